#pragma once
// HDF5 through its C API, safely: identifiers owned and closed (Hid), the library's own error
// printing replaced by our messages, and the one lock every use of it holds. Internal to
// gpt_checkpoint, in builds with HDF5.
#include <hdf5.h>

#include <mutex>
#include <string>
#include <utility>

namespace gpt {

// Debian's serial HDF5 is not thread-safe: every use of it holds this lock. Process-wide, as HDF5
// is: its state is one per process, whoever uses it.
std::mutex& hdf5_mutex();

// Silences HDF5's printing of its error stack (once per process): failures become our messages.
// HDF5's exit handler is turned off too: after a failed write (a full disk) it would try to close
// whatever the failure left half-closed and crash in H5F__close_cb; every file we open is closed
// by its Hid, so the handler has nothing left to do.
void init_hdf5();

// The innermost message on HDF5's error stack ("truncated file: eof = ...", "file signature not
// found", "No space left on device"), on one line, then clears it; empty when there is none.
std::string hdf5_detail();

// Owns one HDF5 identifier; closes it with the function for its kind.
class Hid {
 public:
  Hid() = default;
  explicit Hid(hid_t id) : id_(id) {}
  Hid(const Hid&) = delete;
  Hid& operator=(const Hid&) = delete;
  Hid(Hid&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)) {}
  Hid& operator=(Hid&& o) noexcept {
    if (this != &o) {
      close();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
    }
    return *this;
  }
  ~Hid() { close(); }
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  // Closes now; false when HDF5 reports an error (for the file: data not written).
  bool close();

 private:
  hid_t id_ = H5I_INVALID_HID;
};

}  // namespace gpt
