#include "data/token_file_writer.h"

#include <algorithm>
#include <array>
#include <bit>
#include <limits>

#include "core/errors.h"
#include "core/files/atomic_file.h"

namespace gpt {

static_assert(std::endian::native == std::endian::little, "token files are written as little-endian uint16");

namespace {
constexpr std::size_t kBufferTokens = 1 << 19;  // 1 MiB per write

const char* kind_of(std::filesystem::file_type type) {
  using std::filesystem::file_type;
  switch (type) {
    case file_type::directory:
      return "a folder";
    case file_type::character:
      return "a character device";
    case file_type::block:
      return "a block device";
    case file_type::fifo:
      return "a FIFO";
    case file_type::socket:
      return "a socket";
    default:
      return "not a regular file";
  }
}
}  // namespace

std::filesystem::path TokenFileWriter::output_target(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  auto refuse = [&](const std::string& what) -> fs::path {
    throw DataError("token file " + path.string() + ": " + what +
                    "; it would be replaced, so a token file is written only to a regular file or a new name");
  };
  std::error_code ec;
  const fs::file_type type = fs::symlink_status(path, ec).type();
  if (type == fs::file_type::not_found || type == fs::file_type::regular) return path;
  if (ec) throw DataError("token file " + path.string() + ": cannot inspect it: " + ec.message());
  if (type == fs::file_type::directory) {
    throw DataError("token file " + path.string() + ": is a folder; name the token file itself, such as " +
                    (path / "train.bin").string());
  }
  if (type != fs::file_type::symlink) return refuse(std::string("is ") + kind_of(type));
  const fs::path link = fs::read_symlink(path, ec);
  const fs::file_type target = fs::status(path, ec).type();
  if (target == fs::file_type::not_found)
    return refuse("is a symbolic link to " + link.string() + ", which does not exist");
  if (target != fs::file_type::regular) {
    return refuse("is a symbolic link to " + link.string() + ", which is " + kind_of(target));
  }
  return fs::canonical(path);
}

TokenFileWriter::TokenFileWriter(std::filesystem::path path, TokenFileFormat format)
    : path_(output_target(path)), format_(format) {
  try {
    file_ = std::make_unique<AtomicFile>(path_);
    if (format_ == TokenFileFormat::llmc) {
      const std::array<std::int32_t, llmc_format::header_ints> placeholder{};  // filled in by commit()
      file_->write(placeholder.data(), llmc_format::header_bytes);
    }
  } catch (const std::runtime_error& e) {
    fail(e.what());
  }
  buffer_.reserve(kBufferTokens);
}

TokenFileWriter::~TokenFileWriter() = default;

const std::filesystem::path& TokenFileWriter::temporary_path() const {
  return file_->temporary_path();
}

void TokenFileWriter::fail(const std::string& what) const {
  throw DataError("token file " + path_.string() + ": " + what);
}

void TokenFileWriter::append(std::span<const std::uint16_t> tokens) {
  count_ += tokens.size();
  while (!tokens.empty()) {
    const std::size_t take = std::min(tokens.size(), kBufferTokens - buffer_.size());
    buffer_.insert(buffer_.end(), tokens.begin(), tokens.begin() + static_cast<std::ptrdiff_t>(take));
    tokens = tokens.subspan(take);
    if (buffer_.size() == kBufferTokens) flush();
  }
}

void TokenFileWriter::flush() {
  try {
    file_->write(buffer_.data(), buffer_.size() * sizeof(std::uint16_t));
  } catch (const std::runtime_error& e) {
    fail(e.what());
  }
  buffer_.clear();
}

void TokenFileWriter::commit() {
  flush();
  if (format_ == TokenFileFormat::llmc &&
      count_ > static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max())) {
    fail(std::to_string(count_) + " tokens do not fit llm.c's format, whose count is an int32: use --format raw");
  }
  // Checked again: something other than a regular file may have taken the name since.
  if (output_target(path_) != path_) fail("became a symbolic link while it was written");
  try {
    if (format_ == TokenFileFormat::llmc) {
      const std::array<std::int32_t, 3> header{llmc_format::magic, llmc_format::version,
                                               static_cast<std::int32_t>(count_)};
      file_->write_at(header.data(), sizeof header, 0);
    }
    file_->commit();
  } catch (const NotDurableError&) {
    // The file is whole under its name; only a power cut could still undo the rename.
  } catch (const std::runtime_error& e) {
    fail(e.what());
  }
}

}  // namespace gpt
