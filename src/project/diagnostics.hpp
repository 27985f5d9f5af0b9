#pragma once

#include "common/error.hpp"
#include "project/model.hpp"

#include <string>
#include <vector>

namespace lcloud::project {

enum class Severity { error, warning };

struct Diagnostic {
    std::string file; // as shown to the user
    SourceLocation where;
    Severity severity = Severity::error;
    std::string message;
};

// "lcloud.yaml:3:5: message" or "lcloud.yaml:3:5: warning: message".
std::string format(const Diagnostic& diagnostic);

// Collects every problem of a project file so the user sees them all at once.
class Diagnostics {
  public:
    explicit Diagnostics(std::string file) : file_(std::move(file)) {}

    void error(SourceLocation where, std::string message);
    void warning(SourceLocation where, std::string message);

    bool has_errors() const;
    // In file order; errors and warnings interleaved.
    std::vector<Diagnostic> sorted() const;
    const std::string& file() const { return file_; }

  private:
    std::string file_;
    std::vector<Diagnostic> items_;
};

// A project file with errors. what() holds every error, one per line.
class ProjectError : public Error {
  public:
    explicit ProjectError(std::vector<Diagnostic> diagnostics);
    const std::vector<Diagnostic>& diagnostics() const { return diagnostics_; }

  private:
    std::vector<Diagnostic> diagnostics_;
};

} // namespace lcloud::project
