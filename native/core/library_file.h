// Checks a shared library before it is dlopen'ed into the process (the TensorRT Edge-LLM plugin
// library runs code at load time): no other ordinary user may have planted or be able to replace it,
// nor redirect the path that leads to it. The path is walked component by component, following
// symlinks exactly as the kernel does when dlopen opens it, and every folder passed through (the
// folders holding symlinks, and those their targets lead into) must be owned by this user or root and
// must not be world-writable without the sticky bit. The file itself must be a regular file owned by
// this user or root, not world-writable, and not group-writable unless it is this user's or root's.
#pragma once

#include <string>

namespace tv {

// Empty when the file may be loaded; otherwise the reason, in words a user can act on.
std::string libraryFileProblem(std::string const& path);

}  // namespace tv
