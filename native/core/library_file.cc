#include "core/library_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tv {

std::string libraryFileProblem(std::string const& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "cannot read " + path + ": " + std::strerror(errno);
  if (!S_ISREG(st.st_mode)) return path + " is not a regular file";
  uid_t const me = ::geteuid();
  if (st.st_uid != me && st.st_uid != 0) {
    return path + " is owned by user id " + std::to_string(st.st_uid) +
           ", neither this user nor root: refusing to load code another user controls (chown it, or copy it to a folder you own)";
  }
  if ((st.st_mode & S_IWOTH) != 0) {
    return path + " is world-writable: refusing to load a library anyone could replace (chmod o-w " + path + ")";
  }
  if ((st.st_mode & S_IWGRP) != 0 && st.st_uid != me && st.st_uid != 0) {
    return path + " is group-writable and not yours: refusing to load it";
  }
  std::string const dir = path.find('/') == std::string::npos ? "." : path.substr(0, path.find_last_of('/'));
  struct stat ds {};
  if (!dir.empty() && ::stat(dir.c_str(), &ds) == 0 && (ds.st_mode & S_IWOTH) != 0 && (ds.st_mode & S_ISVTX) == 0) {
    return "the folder " + dir + " is world-writable: anyone could replace " + path + " (move the library to a protected folder)";
  }
  return "";
}

}  // namespace tv
