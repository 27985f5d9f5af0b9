// The instructions that change only the image config: ENV, LABEL, CMD, ENTRYPOINT, HEALTHCHECK,
// EXPOSE, USER, STOPSIGNAL, VOLUME, SHELL, ONBUILD, MAINTAINER.

#include "common/strings.hpp"
#include "runtime/image/build/builder.hpp"
#include "runtime/image/build/image_config.hpp"

#include <charconv>

namespace lcloud::runtime::image::build {

using Json = nlohmann::json;

namespace {

std::string joined(const std::vector<std::string>& words) {
    std::string text;
    for (const std::string& word : words)
        text += (text.empty() ? "" : " ") + word;
    return text;
}

// "80", "80/tcp", "53/udp", "8000-8002" -> the keys of ExposedPorts.
std::vector<std::string> exposed_ports(const std::string& spec) {
    const size_t slash = spec.find('/');
    const std::string range = spec.substr(0, slash);
    const std::string protocol =
        slash == std::string::npos ? "tcp" : to_lower(spec.substr(slash + 1));
    if (protocol != "tcp" && protocol != "udp" && protocol != "sctp")
        throw InvalidValue("'" + spec + "': the protocol must be tcp, udp or sctp");
    const auto port = [&spec](std::string_view text) {
        unsigned value = 0;
        const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (text.empty() || error != std::errc() || end != text.data() + text.size() ||
            value == 0 || value > 65535)
            throw InvalidValue("'" + spec + "' is not a port (1-65535), a range (8000-8010) " +
                               "or either with /tcp, /udp or /sctp");
        return value;
    };
    const size_t dash = range.find('-');
    const unsigned first = port(std::string_view(range).substr(0, dash));
    const unsigned last =
        dash == std::string::npos ? first : port(std::string_view(range).substr(dash + 1));
    if (last < first) throw InvalidValue("'" + spec + "': the range ends before it starts");
    std::vector<std::string> ports;
    for (unsigned value = first; value <= last; ++value)
        ports.push_back(std::to_string(value) + "/" + protocol);
    return ports;
}

} // namespace

StepPlan Builder::plan_env_or_label(const Instruction& instruction, const Stage& stage) {
    const bool is_env = instruction.keyword == "ENV";
    const Lookup variables = lookup(&stage);
    const std::vector<std::string> raw = split_raw(instruction.arguments, file_.escape);
    std::vector<std::pair<std::string, std::string>> pairs;
    if (!raw.empty() && raw[0].find('=') == std::string::npos) {
        // The old form: NAME VALUE, the value being the rest of the line.
        const std::string rest(trim(std::string_view(instruction.arguments).substr(raw[0].size())));
        if (rest.empty())
            throw InvalidValue(instruction.keyword + " needs NAME=VALUE (or NAME VALUE)");
        pairs.emplace_back(expand_word(raw[0], variables, file_.escape),
                           expand_word(rest, variables, file_.escape));
    } else {
        for (const std::string& word : raw) {
            const size_t equals = word.find('=');
            if (equals == std::string::npos)
                throw InvalidValue("'" + word + "' is not NAME=VALUE; every word of " +
                                   instruction.keyword + " must be one");
            pairs.emplace_back(expand_word(word.substr(0, equals), variables, file_.escape),
                               expand_word(word.substr(equals + 1), variables, file_.escape));
        }
    }
    Json list = Json::array();
    std::string shown;
    for (const auto& [name, value] : pairs) {
        if (name.empty()) throw InvalidValue(instruction.keyword + " needs a name before '='");
        list.push_back(name + "=" + value);
        shown += " " + name + "=" + value;
    }
    StepPlan plan;
    plan.key_text = list.dump();
    plan.created_by = instruction.keyword + shown;
    plan.change_config = [pairs, is_env](Json& image) {
        for (const auto& [name, value] : pairs) {
            if (is_env) {
                set_env(image, name, value);
            } else {
                Json& config = run_config(image);
                if (!config.contains("Labels") || !config["Labels"].is_object())
                    config["Labels"] = Json::object();
                config["Labels"][name] = value;
            }
        }
    };
    return plan;
}

StepPlan Builder::plan_command(const Instruction& instruction, Stage& stage) {
    const bool is_cmd = instruction.keyword == "CMD";
    const auto exec = exec_form(instruction.arguments);
    std::vector<std::string> command = exec.value_or(shell_of(stage.image));
    if (!exec) command.push_back(instruction.arguments);
    // An ENTRYPOINT drops the CMD the base image had, unless this stage gave one.
    const bool keep_cmd = stage.cmd_set;
    if (is_cmd) stage.cmd_set = true;
    StepPlan plan;
    plan.key_text = Json(command).dump() + (keep_cmd ? " keep-cmd" : "");
    plan.created_by = instruction.keyword + " " + Json(command).dump();
    plan.change_config = [command, is_cmd, keep_cmd](Json& image) {
        Json& config = run_config(image);
        if (is_cmd) {
            config["Cmd"] = command;
            return;
        }
        config["Entrypoint"] = command;
        if (!keep_cmd) config["Cmd"] = nullptr;
    };
    return plan;
}

StepPlan Builder::plan_healthcheck(const Instruction& instruction) {
    const std::string& arguments = instruction.arguments;
    const size_t end = std::min(arguments.find_first_of(" \t"), arguments.size());
    const std::string kind = to_lower(arguments.substr(0, end));
    const std::string rest(trim(std::string_view(arguments).substr(end)));
    Json check = Json::object();
    if (kind == "none") {
        if (!rest.empty() || !instruction.flags.empty())
            throw InvalidValue("HEALTHCHECK NONE takes no arguments or options");
        check["Test"] = {"NONE"};
    } else if (kind == "cmd") {
        if (rest.empty()) throw InvalidValue("HEALTHCHECK CMD needs a command");
        const auto exec = exec_form(rest);
        std::vector<std::string> test{exec ? "CMD" : "CMD-SHELL"};
        if (exec)
            test.insert(test.end(), exec->begin(), exec->end());
        else
            test.push_back(rest);
        check["Test"] = test;
    } else {
        throw InvalidValue("HEALTHCHECK takes CMD command or NONE, not '" + kind + "'");
    }
    const std::pair<const char*, const char*> durations[] = {{"interval", "Interval"},
                                                             {"timeout", "Timeout"},
                                                             {"start-period", "StartPeriod"},
                                                             {"start-interval", "StartInterval"}};
    for (const auto& [flag, field] : durations) {
        const auto value = instruction.flag(flag);
        if (!value) continue;
        int64_t nanoseconds = 0;
        try {
            nanoseconds = parse_duration(*value);
        } catch (const InvalidValue& error) {
            throw InvalidValue("--" + std::string(flag) + ": " + error.message());
        }
        if (nanoseconds != 0 && nanoseconds < 1'000'000)
            throw InvalidValue("--" + std::string(flag) + " must be at least 1ms, or 0");
        if (nanoseconds != 0) check[field] = nanoseconds;
    }
    if (const auto retries = instruction.flag("retries")) {
        int value = 0;
        const auto [end_pointer, error] =
            std::from_chars(retries->data(), retries->data() + retries->size(), value);
        if (retries->empty() || error != std::errc() ||
            end_pointer != retries->data() + retries->size() || value < 0)
            throw InvalidValue("--retries must be a whole number, 0 or more; '" + *retries +
                               "' is none");
        if (value != 0) check["Retries"] = value;
    }
    StepPlan plan;
    plan.key_text = check.dump();
    plan.created_by = "HEALTHCHECK " + check.dump();
    plan.change_config = [check](Json& image) { run_config(image)["Healthcheck"] = check; };
    return plan;
}

StepPlan Builder::plan_metadata(const Instruction& instruction, Stage& stage) {
    const std::string& keyword = instruction.keyword;
    if (keyword == "ENV" || keyword == "LABEL") return plan_env_or_label(instruction, stage);
    if (keyword == "CMD" || keyword == "ENTRYPOINT") return plan_command(instruction, stage);
    if (keyword == "HEALTHCHECK") return plan_healthcheck(instruction);
    StepPlan plan;
    if (keyword == "EXPOSE") {
        std::vector<std::string> ports;
        for (const std::string& spec : words(instruction, &stage))
            for (std::string& port : exposed_ports(spec))
                ports.push_back(std::move(port));
        plan.key_text = joined(ports);
        plan.change_config = [ports](Json& image) {
            Json& config = run_config(image);
            if (!config.contains("ExposedPorts") || !config["ExposedPorts"].is_object())
                config["ExposedPorts"] = Json::object();
            for (const std::string& port : ports)
                config["ExposedPorts"][port] = Json::object();
        };
    } else if (keyword == "USER" || keyword == "STOPSIGNAL") {
        const std::string value = word(instruction, &stage);
        if (value.empty()) throw InvalidValue(keyword + " needs a value");
        plan.key_text = value;
        const char* field = keyword == "USER" ? "User" : "StopSignal";
        plan.change_config = [value, field](Json& image) { run_config(image)[field] = value; };
    } else if (keyword == "VOLUME") {
        std::vector<std::string> paths;
        if (const auto exec = exec_form(instruction.arguments)) {
            for (const std::string& path : *exec)
                paths.push_back(expand_word(path, lookup(&stage), file_.escape));
        } else {
            paths = words(instruction, &stage);
        }
        plan.key_text = joined(paths);
        plan.change_config = [paths](Json& image) {
            Json& config = run_config(image);
            if (!config.contains("Volumes") || !config["Volumes"].is_object())
                config["Volumes"] = Json::object();
            for (const std::string& path : paths)
                config["Volumes"][path] = Json::object();
        };
    } else if (keyword == "SHELL") {
        const auto exec = exec_form(instruction.arguments);
        if (!exec || exec->empty())
            throw InvalidValue("SHELL takes a JSON array, e.g. [\"/bin/bash\", \"-c\"]");
        plan.key_text = Json(*exec).dump();
        const std::vector<std::string> shell = *exec;
        plan.change_config = [shell](Json& image) { run_config(image)["Shell"] = shell; };
    } else if (keyword == "ONBUILD") {
        // Kept for images built FROM this one; their triggers are not run here.
        plan.key_text = instruction.arguments;
        const std::string trigger = instruction.arguments;
        plan.change_config = [trigger](Json& image) {
            Json& config = run_config(image);
            if (!config.contains("OnBuild") || !config["OnBuild"].is_array())
                config["OnBuild"] = Json::array();
            config["OnBuild"].push_back(trigger);
        };
    } else if (keyword == "MAINTAINER") {
        plan.key_text = instruction.arguments;
        const std::string author = instruction.arguments;
        plan.change_config = [author](Json& image) { image["author"] = author; };
    } else {
        throw InvalidValue("the builder does not know " + keyword);
    }
    plan.created_by = keyword + " " + plan.key_text;
    return plan;
}

} // namespace lcloud::runtime::image::build
