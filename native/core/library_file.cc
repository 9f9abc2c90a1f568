#include "core/library_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <vector>

namespace tv {

namespace {

constexpr int kMaxSymlinks = 40;  // the kernel's own limit (ELOOP)

bool trustedOwner(uid_t owner) { return owner == ::geteuid() || owner == 0; }

// Why a folder on the way to the library is unsafe, or "".
std::string folderProblem(std::string const& dir, std::string const& path) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return "cannot read the folder " + dir + ": " + std::strerror(errno);
  if (!trustedOwner(st.st_uid)) {
    return "the folder " + dir + " is owned by user id " + std::to_string(st.st_uid) + ", neither this user nor root: that user could replace " +
           path + " through it (move the library to a folder you or root own)";
  }
  if ((st.st_mode & S_IWOTH) != 0 && (st.st_mode & S_ISVTX) == 0) {
    return "the folder " + dir + " is world-writable: anyone could replace " + path + " through it (move the library to a protected folder)";
  }
  return "";
}

std::vector<std::string> components(std::string const& p) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < p.size()) {
    std::size_t const j = p.find('/', i);
    std::string const c = p.substr(i, j == std::string::npos ? std::string::npos : j - i);
    if (!c.empty() && c != ".") out.push_back(c);
    if (j == std::string::npos) break;
    i = j + 1;
  }
  return out;
}

std::string parentOf(std::string const& dir) {
  std::size_t const slash = dir.find_last_of('/');
  return slash == 0 || slash == std::string::npos ? "/" : dir.substr(0, slash);
}

std::string join(std::string const& dir, std::string const& name) { return dir == "/" ? "/" + name : dir + "/" + name; }

}  // namespace

std::string libraryFileProblem(std::string const& path) {
  if (path.empty()) return "the library path is empty";
  // dlopen searches the system's library folders for a name without '/', not the current folder.
  if (path.find('/') == std::string::npos) return path + " has no '/': give the library's path (dlopen would search for the name elsewhere)";
  std::string current = "/";
  if (path[0] != '/') {
    char cwd[4096];
    if (::getcwd(cwd, sizeof cwd) == nullptr) return std::string("cannot resolve ") + path + ": " + std::strerror(errno);
    current = cwd;  // already free of symlinks
    // The folders above the current one are walked as well: they lead to the library too.
    std::string walked = "/";
    for (std::string const& c : components(current)) {
      if (std::string const p = folderProblem(walked, path); !p.empty()) return p;
      walked = join(walked, c);
    }
  }
  std::deque<std::string> pending;
  for (std::string const& c : components(path)) pending.push_back(c);
  int symlinks = 0;
  while (!pending.empty()) {
    std::string const name = pending.front();
    pending.pop_front();
    if (name == "..") {
      current = parentOf(current);
      continue;
    }
    // Whoever can write this folder can swap the entry (file, folder or symlink) named next.
    if (std::string const p = folderProblem(current, path); !p.empty()) return p;
    std::string const next = join(current, name);
    struct stat st {};
    if (::lstat(next.c_str(), &st) != 0) return "cannot read " + path + ": " + std::strerror(errno);
    if (S_ISLNK(st.st_mode)) {
      if (++symlinks > kMaxSymlinks) return "cannot read " + path + ": too many levels of symbolic links";
      std::vector<char> target(static_cast<std::size_t>(st.st_size > 0 ? st.st_size : 4096) + 1);
      ssize_t const n = ::readlink(next.c_str(), target.data(), target.size() - 1);
      if (n < 0) return "cannot read the link " + next + ": " + std::strerror(errno);
      std::string const link(target.data(), static_cast<std::size_t>(n));
      std::vector<std::string> const parts = components(link);
      pending.insert(pending.begin(), parts.begin(), parts.end());
      if (!link.empty() && link[0] == '/') current = "/";
      continue;
    }
    if (pending.empty()) {
      if (!S_ISREG(st.st_mode)) return path + " is not a regular file";
      if (!trustedOwner(st.st_uid)) {
        return path + " is owned by user id " + std::to_string(st.st_uid) +
               ", neither this user nor root: refusing to load code another user controls (chown it, or copy it to a folder you own)";
      }
      if ((st.st_mode & S_IWOTH) != 0) {
        return path + " is world-writable: refusing to load a library anyone could replace (chmod o-w " + path + ")";
      }
      if ((st.st_mode & S_IWGRP) != 0 && !trustedOwner(st.st_uid)) return path + " is group-writable and not yours: refusing to load it";
      return "";
    }
    if (!S_ISDIR(st.st_mode)) return "cannot read " + path + ": " + next + " is not a folder";
    current = next;
  }
  return path + " is not a regular file";  // the path named a folder ("/", "a/..")
}

}  // namespace tv
