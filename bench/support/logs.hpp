#pragma once

// One log file per command a benchmark runs, numbered in the order they ran, so that a failed
// run can be read back step by step.

#include "process.hpp"
#include "workdir.hpp"

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace lcloud::bench {

class Logs {
  public:
    explicit Logs(const WorkDir& work) : dir_(work.path() / "logs") {
        fs::create_directories(dir_);
    }
    RunOptions options(const std::string& label, std::vector<std::string> env) {
        char number[16];
        std::snprintf(number, sizeof number, "%04d-", ++count_);
        std::string file = number + label;
        for (char& c : file)
            if (c == ' ' || c == '/' || c == '(' || c == ')') c = '_';
        return {std::move(env), -1, (dir_ / (file + ".log")).string()};
    }
    const fs::path& dir() const { return dir_; }

  private:
    fs::path dir_;
    int count_ = 0;
};

} // namespace lcloud::bench
