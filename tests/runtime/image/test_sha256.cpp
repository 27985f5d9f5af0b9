#include "archive_builder.hpp"
#include "runtime/image/errors.hpp"
#include "runtime/image/sha256.hpp"
#include "support/run_command.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

using lcloud::runtime::image::digest_hex;
using lcloud::runtime::image::ImageError;
using lcloud::runtime::image::is_sha256_digest;
using lcloud::runtime::image::Sha256;
using lcloud::runtime::image::sha256_digest;

TEST_CASE("sha256_digest: FIPS 180 test vectors") {
    CHECK(sha256_digest("") ==
          "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(sha256_digest("abc") ==
          "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(sha256_digest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    CHECK(sha256_digest(std::string(1'000'000, 'a')) ==
          "sha256:cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("Sha256: fed in pieces of every size, agrees with sha256sum") {
    lcloud::test::TempDir temp;
    for (size_t size : {55u, 56u, 63u, 64u, 65u, 119u, 120u, 1000u, 70'001u}) {
        INFO(size);
        std::string data(size, '\0');
        for (size_t i = 0; i < size; ++i)
            data[i] = static_cast<char>((i * 131 + size) & 0xff);
        lcloud::test::image::write_file(temp.path() / "data", data);
        const auto sum = lcloud::test::run_command("sha256sum " + (temp.path() / "data").string());
        REQUIRE(sum.exit_code == 0);
        Sha256 hash;
        for (size_t offset = 0, step = 1; offset < size; offset += step, step = step * 3 % 97 + 1)
            hash.update(data.data() + offset, std::min(step, size - offset));
        CHECK(hash.digest() == "sha256:" + sum.output.substr(0, 64));
    }
}

TEST_CASE("digest_hex accepts only sha256 and 64 lowercase hex digits") {
    const std::string good = sha256_digest("x");
    CHECK(is_sha256_digest(good));
    CHECK(digest_hex(good, "t") == good.substr(7));
    for (const std::string& bad :
         {std::string("sha256:") + std::string(63, 'a'),
          std::string("sha256:") + std::string(64, 'A'),
          std::string("sha512:") + std::string(64, 'a'),
          std::string("sha256:../../") + std::string(58, 'a'), std::string()}) {
        INFO(bad);
        CHECK_FALSE(is_sha256_digest(bad));
        CHECK_THROWS_AS(digest_hex(bad, "t"), ImageError);
    }
}
