#include "core/ops/backend.h"

#include <stdexcept>

namespace gpt {

void Backend::refuse(const char* what) const {
  const std::string full_name = name();
  const std::string family = full_name.substr(0, full_name.find('-'));
  throw std::logic_error(family + " backend: " + what);
}

}  // namespace gpt
