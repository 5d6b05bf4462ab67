#include "train/checkpoint/hdf5_handles.h"

#include <mutex>
#include <string_view>

namespace gpt {
namespace {

// One line out of HDF5's description of a failure: the system's own message when there is one
// (a failed write's description spans lines and ends in "error message = 'No space left on
// device'"), else the description with its line breaks folded.
std::string one_line(const std::string& desc) {
  constexpr std::string_view marker = "error message = '";
  if (const std::size_t at = desc.find(marker); at != std::string::npos) {
    const std::size_t begin = at + marker.size();
    const std::size_t end = desc.find('\'', begin);
    if (end != std::string::npos && end > begin) return desc.substr(begin, end - begin);
  }
  std::string out;
  for (char c : desc) {
    if (c == '\n' || c == '\r') c = ' ';
    if (c == ' ' && (out.empty() || out.back() == ' ')) continue;
    out += c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

}  // namespace

std::mutex& hdf5_mutex() {
  static std::mutex mutex;
  return mutex;
}

void init_hdf5() {
  static std::once_flag once;
  std::call_once(once, [] {
    H5dont_atexit();
    H5open();
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  });
}

std::string hdf5_detail() {
  std::string detail;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned n, const H5E_error2_t* err, void* out) -> herr_t {
        if (n == 0 && err->desc && *err->desc) *static_cast<std::string*>(out) = err->desc;
        return 0;
      },
      &detail);
  H5Eclear2(H5E_DEFAULT);
  return one_line(detail);
}

bool Hid::close() {
  if (id_ < 0) return true;
  herr_t r = 0;
  switch (H5Iget_type(id_)) {
    case H5I_FILE:
      r = H5Fclose(id_);
      break;
    case H5I_GROUP:
      r = H5Gclose(id_);
      break;
    case H5I_DATASET:
      r = H5Dclose(id_);
      break;
    case H5I_DATASPACE:
      r = H5Sclose(id_);
      break;
    case H5I_DATATYPE:
      r = H5Tclose(id_);
      break;
    case H5I_ATTR:
      r = H5Aclose(id_);
      break;
    case H5I_GENPROP_LST:
      r = H5Pclose(id_);
      break;
    default:
      r = H5Oclose(id_);
      break;
  }
  id_ = H5I_INVALID_HID;
  return r >= 0;
}

}  // namespace gpt
