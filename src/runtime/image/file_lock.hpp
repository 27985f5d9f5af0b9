#pragma once

#include "common/fd.hpp"

#include <filesystem>

namespace lcloud::runtime::image {

// flock() on a file, held for the object's lifetime; the kernel drops it if the holder dies.
class FileLock {
  public:
    enum class Mode { shared, exclusive };
    // Waits for the lock. Creates the file if needed. Throws SystemError naming it.
    FileLock(const std::filesystem::path& path, Mode mode);
    FileLock(FileLock&&) noexcept = default;
    FileLock& operator=(FileLock&&) noexcept = default;

  private:
    Fd fd_;
};

} // namespace lcloud::runtime::image
