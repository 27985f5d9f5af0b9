#include "agent/logs/line_splitter.hpp"

namespace lcloud::agent {

namespace {

bool continuation_byte(char byte) {
    return (static_cast<unsigned char>(byte) & 0xC0) == 0x80;
}

// Where to cut `rest` (at least max_piece long): before the character that straddles the limit.
size_t piece_end(std::string_view rest) {
    for (size_t cut = LineSplitter::max_piece; cut > LineSplitter::max_piece - 4; --cut)
        if (!continuation_byte(rest[cut])) return cut;
    return LineSplitter::max_piece; // not UTF-8 here anyway
}

} // namespace

void LineSplitter::feed(std::string_view bytes, const Emit& emit) {
    partial_.append(bytes);
    std::string_view rest(partial_);
    for (;;) {
        const size_t newline = rest.find('\n');
        size_t end = 0;
        if (newline != std::string_view::npos && newline < max_piece)
            end = newline + 1;
        else if (rest.size() > max_piece) // the byte past the limit shows where a character starts
            end = piece_end(rest);
        else
            break;
        emit(rest.substr(0, end));
        rest.remove_prefix(end);
    }
    partial_.erase(0, partial_.size() - rest.size());
}

void LineSplitter::finish(const Emit& emit) {
    if (partial_.empty()) return;
    emit(partial_);
    partial_.clear();
}

} // namespace lcloud::agent
