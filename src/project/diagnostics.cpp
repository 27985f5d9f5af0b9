#include "project/diagnostics.hpp"

#include <algorithm>
#include <fmt/format.h>

namespace lcloud::project {

std::string format(const Diagnostic& diagnostic) {
    const std::string_view severity = diagnostic.severity == Severity::warning ? "warning: " : "";
    if (diagnostic.where.line == 0)
        return fmt::format("{}: {}{}", diagnostic.file, severity, diagnostic.message);
    return fmt::format("{}:{}:{}: {}{}", diagnostic.file, diagnostic.where.line,
                       diagnostic.where.column, severity, diagnostic.message);
}

void Diagnostics::error(SourceLocation where, std::string message) {
    items_.push_back({file_, where, Severity::error, std::move(message)});
}

void Diagnostics::warning(SourceLocation where, std::string message) {
    items_.push_back({file_, where, Severity::warning, std::move(message)});
}

bool Diagnostics::has_errors() const {
    return std::any_of(items_.begin(), items_.end(),
                       [](const Diagnostic& d) { return d.severity == Severity::error; });
}

std::vector<Diagnostic> Diagnostics::sorted() const {
    auto items = items_;
    std::stable_sort(items.begin(), items.end(), [](const Diagnostic& a, const Diagnostic& b) {
        return std::pair(a.where.line, a.where.column) < std::pair(b.where.line, b.where.column);
    });
    return items;
}

static std::string join_errors(const std::vector<Diagnostic>& diagnostics) {
    std::string text;
    for (const auto& diagnostic : diagnostics) {
        if (diagnostic.severity != Severity::error) continue;
        if (!text.empty()) text += '\n';
        text += format(diagnostic);
    }
    return text;
}

ProjectError::ProjectError(std::vector<Diagnostic> diagnostics)
    : Error(join_errors(diagnostics)), diagnostics_(std::move(diagnostics)) {}

} // namespace lcloud::project
