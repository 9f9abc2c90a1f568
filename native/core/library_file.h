// Checks a shared library before it is dlopen'ed into the process (the TensorRT Edge-LLM plugin
// library runs code at load time): it must be a regular file that no other ordinary user can have
// planted or modified. Refused: world-writable files (or in a world-writable folder without the
// sticky bit), files owned by a user other than this one or root.
#pragma once

#include <string>

namespace tv {

// Empty when the file may be loaded; otherwise the reason, in words a user can act on.
std::string libraryFileProblem(std::string const& path);

}  // namespace tv
