#include "runtime/image/sha256.hpp"

#include "runtime/image/errors.hpp"

#include <openssl/evp.h>

namespace lcloud::runtime::image {

namespace {

EVP_MD_CTX* context_of(void* context) {
    return static_cast<EVP_MD_CTX*>(context);
}

} // namespace

Sha256::Sha256() : context_(EVP_MD_CTX_new()) {
    if (!context_ || EVP_DigestInit_ex(context_of(context_), EVP_sha256(), nullptr) != 1)
        throw ImageError("cannot start a SHA-256 digest (OpenSSL)");
}

Sha256::~Sha256() {
    EVP_MD_CTX_free(context_of(context_));
}

void Sha256::update(const void* data, size_t size) {
    if (size > 0 && EVP_DigestUpdate(context_of(context_), data, size) != 1)
        throw ImageError("SHA-256 digest update failed (OpenSSL)");
}

std::string Sha256::digest() {
    unsigned char bytes[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_DigestFinal_ex(context_of(context_), bytes, &length) != 1)
        throw ImageError("SHA-256 digest failed (OpenSSL)");
    static constexpr char hex[] = "0123456789abcdef";
    std::string result = "sha256:";
    for (unsigned int i = 0; i < length; ++i) {
        result += hex[bytes[i] >> 4];
        result += hex[bytes[i] & 0xf];
    }
    return result;
}

std::string sha256_digest(std::string_view data) {
    Sha256 hash;
    hash.update(data);
    return hash.digest();
}

bool is_sha256_digest(std::string_view digest) {
    constexpr std::string_view prefix = "sha256:";
    if (digest.size() != prefix.size() + 64 || digest.substr(0, prefix.size()) != prefix)
        return false;
    return digest.substr(prefix.size()).find_first_not_of("0123456789abcdef") ==
           std::string_view::npos;
}

std::string digest_hex(std::string_view digest, std::string_view what) {
    if (!is_sha256_digest(digest))
        throw ImageError(std::string(what) + ": '" + std::string(digest) +
                         "' is not a digest; expected sha256: and 64 lowercase hex digits");
    return std::string(digest.substr(7));
}

} // namespace lcloud::runtime::image
