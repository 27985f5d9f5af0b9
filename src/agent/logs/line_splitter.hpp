#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace lcloud::agent {

// Cuts a byte stream into lines. A line longer than max_piece leaves in pieces of at most
// max_piece bytes, cut between UTF-8 characters where the bytes allow it, as Docker cuts them.
class LineSplitter {
  public:
    static constexpr size_t max_piece = 16 << 10;
    using Emit = std::function<void(std::string_view piece)>;

    // Emits every complete line (with its "\n") and every full piece; holds the rest.
    void feed(std::string_view bytes, const Emit& emit);
    // Emits what is held, a line without its "\n".
    void finish(const Emit& emit);
    bool holding() const { return !partial_.empty(); }

  private:
    std::string partial_;
};

} // namespace lcloud::agent
