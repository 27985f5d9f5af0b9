#pragma once

#include "common/error.hpp"

#include <string>

namespace lcloud::runtime::image {

// An image, archive or store problem; the message names the object and says what is wrong.
class ImageError : public Error {
  public:
    using Error::Error;
};

// A layer archive tried to write outside its directory, or is otherwise unsafe or absurd. Nothing
// of it is left behind.
class UnsafeArchive : public ImageError {
  public:
    UnsafeArchive(const std::string& entry, const std::string& problem)
        : ImageError("layer entry '" + entry + "': " + problem), entry_(entry) {}
    const std::string& entry() const { return entry_; }

  private:
    std::string entry_;
};

// Content that does not hash to the digest that names it.
class DigestMismatch : public ImageError {
  public:
    DigestMismatch(const std::string& what, const std::string& expected, const std::string& actual)
        : ImageError(what + ": expected " + expected + " but the content hashes to " + actual),
          expected_(expected), actual_(actual) {}
    const std::string& expected() const { return expected_; }
    const std::string& actual() const { return actual_; }

  private:
    std::string expected_;
    std::string actual_;
};

// No image in the store answers to a reference.
class ImageNotFound : public ImageError {
  public:
    using ImageError::ImageError;
};

// The image cannot be removed: a container uses it.
class ImageInUse : public ImageError {
  public:
    using ImageError::ImageError;
};

} // namespace lcloud::runtime::image
