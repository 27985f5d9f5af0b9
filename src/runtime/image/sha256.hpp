#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace lcloud::runtime::image {

// Streaming SHA-256, with OpenSSL's libcrypto (which uses the CPU's SHA extensions).
class Sha256 {
  public:
    Sha256();
    ~Sha256();
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;
    void update(const void* data, size_t size);
    void update(std::string_view data) { update(data.data(), data.size()); }
    // "sha256:<64 lowercase hex>". Ends the computation; call once.
    std::string digest();

  private:
    void* context_; // EVP_MD_CTX, kept out of this header
};

std::string sha256_digest(std::string_view data);

// True for "sha256:" followed by 64 lowercase hex digits, the only digests the store accepts.
bool is_sha256_digest(std::string_view digest);

// The hex part of a valid digest; throws ImageError naming `what` otherwise.
std::string digest_hex(std::string_view digest, std::string_view what);

} // namespace lcloud::runtime::image
