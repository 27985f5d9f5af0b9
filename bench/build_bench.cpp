// The image build benchmark of issue 4: a rebuild with nothing changed, every step from the
// cache, by lcloud's builder (src/runtime/image/build, called as a library: in this process,
// and in a process of its own as a command would be) and by `podman build` of the same
// Containerfile and context, alternating, in the same run. Target: lcloud <= 100 ms.
//
//   build/build_bench [--rounds N]
//   build/build_bench --build-once STORE CONTEXT TAG    (one build, then exit; used by the above)
#include "runtime/image/build/build.hpp"
#include "runtime/image/store.hpp"
#include "support/leftovers.hpp"
#include "support/measure.hpp"
#include "support/podman.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

using namespace lcloud;
using namespace lcloud::bench;
namespace build = runtime::image::build;

namespace {

const char* const containerfile = R"(FROM busybox:bench
ARG VERSION=1
ENV APP_HOME=/srv/app
WORKDIR /srv/app
COPY app/ ./
RUN echo "built $VERSION" > built.txt && ls -lR . > listing.txt
LABEL org.example.bench="build"
EXPOSE 8080
CMD ["sh", "-c", "cat built.txt"]
)";
constexpr int steps = 9;

// 200 small files in 10 directories and one of 1 MiB: what COPY hashes for its cache key.
uint64_t write_context(const fs::path& context) {
    std::ofstream(context / "Containerfile") << containerfile;
    std::mt19937 random(42);
    uint64_t bytes = 0;
    for (int i = 0; i < 200; ++i) {
        const fs::path dir = context / "app" / ("dir" + std::to_string(i % 10));
        fs::create_directories(dir);
        std::string text(200 + i * 7, 'x');
        for (char& c : text)
            c = static_cast<char>('a' + random() % 26);
        std::ofstream(dir / ("file" + std::to_string(i) + ".txt")) << text;
        bytes += text.size();
    }
    std::string big(1 << 20, '\0');
    for (char& c : big)
        c = static_cast<char>(random());
    std::ofstream(context / "app/data.bin", std::ios::binary) << big;
    return bytes + big.size();
}

build::BuildResult build_once(const fs::path& store_root, const fs::path& context,
                              const std::string& tag) {
    runtime::image::Store store(store_root);
    build::BuildOptions options;
    options.context = context;
    options.tag = tag;
    return build::build_image(store, options, [](const std::string&) {});
}

size_t count_of(const std::string& text, const std::string& part) {
    size_t count = 0;
    for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1))
        ++count;
    return count;
}

struct Peer {
    std::string name;
    std::vector<double> ms;
};

int run_bench(const WorkDir& work, int rounds, const std::string& self) {
    const fs::path tarball = make_busybox_tarball(work);
    const fs::path store = work.path() / "store", context = work.path() / "context";
    fs::create_directories(context);
    const uint64_t context_bytes = write_context(context);
    runtime::image::Store(store).import_rootfs(tarball,
                                               runtime::image::parse_reference("busybox:bench"));
    // RUN has no network in lcloud's builder unless asked: the same for podman's.
    Podman podman(work, false);
    podman.checked({"import", tarball.string(), "busybox:bench"});
    std::vector<std::string> podman_build = {"build",
                                             "--network",
                                             "none",
                                             "-t",
                                             "app:bench",
                                             "-f",
                                             (context / "Containerfile").string()};
    for (const auto& limit : Podman::ulimits())
        podman_build.push_back(limit);
    podman_build.push_back(context.string());

    // The first builds run every step; they are not timed.
    const auto first = build_once(store, context, "app:bench");
    podman.checked(podman_build);
    std::printf("cached rebuild of a %d-step Containerfile (COPY of 201 files, %.1f MiB; RUN; "
                "ENV, WORKDIR, LABEL, ...), %d rounds after 2 for warm-up, alternating\n",
                steps, static_cast<double>(context_bytes) / mib, rounds);
    std::printf("  first build: lcloud ran %zu container(s), made %zu layer(s)\n",
                first.containers_run, first.layers_created);

    Peer in_process{"lcloud, in this process (build_image)", {}},
        process{"lcloud, a process of its own (--build-once)", {}}, peer{"podman build", {}};
    const std::vector<std::string> once = {self, "--build-once", store.string(), context.string(),
                                           "app:bench"};
    for (int round = 0; round < rounds + 2; ++round) {
        for (int turn = 0; turn < 3; ++turn) {
            throw_if_interrupted();
            double ms = 0;
            Peer* which = nullptr;
            switch ((turn + round) % 3) {
            case 0: {
                const auto start = Clock::now();
                const auto result = build_once(store, context, "app:bench");
                ms = ms_since(start);
                if (result.cache_hits != steps - 1 || result.layers_created ||
                    result.containers_run)
                    throw std::runtime_error("lcloud's rebuild missed the cache");
                which = &in_process;
                break;
            }
            case 1:
                ms = run_checked(once, work.options()).wall_ms;
                which = &process;
                break;
            default: {
                const auto result = podman.checked(podman_build);
                if (count_of(result.output, "Using cache") != steps - 1)
                    throw std::runtime_error("podman's rebuild missed the cache:\n" +
                                             result.output);
                ms = result.wall_ms;
                which = &peer;
            }
            }
            if (round >= 2) which->ms.push_back(ms);
        }
    }
    std::printf("  every rebuild took all %d steps after FROM from the cache (checked each time)\n",
                steps - 1);
    const double base = median(peer.ms);
    for (const Peer* one : {&in_process, &process, &peer}) {
        const double ms = median(one->ms);
        std::printf("  %-45s median %7.1f ms   ratio to podman %.3f", one->name.c_str(), ms,
                    ms / base);
        if (one != &peer) std::printf("   target <= 100 ms: %s", ms <= 100 ? "met" : "NOT met");
        std::printf("\n");
    }
    return median(in_process.ms) <= 100 && median(process.ms) <= 100 ? 0 : 2;
}

} // namespace

int main(int argc, char** argv) {
    if (argc == 5 && std::string(argv[1]) == "--build-once") {
        try {
            const auto result = build_once(argv[2], argv[3], argv[4]);
            return result.cache_hits == steps - 1 ? 0 : 3;
        } catch (const std::exception& error) {
            std::fprintf(stderr, "build_bench: %s\n", error.what());
            return 1;
        }
    }
    int rounds = 30;
    for (int i = 1; i + 1 < argc; i += 2)
        if (std::string(argv[i]) == "--rounds") rounds = std::atoi(argv[i + 1]);
    if (rounds < 1) {
        std::fprintf(stderr, "usage: build_bench [--rounds N]\n");
        return 2;
    }
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    unwind_on_interrupt();
    int exit_code = 0;
    WorkDir work("lcloud-build-bench");
    const auto before = host_state(work);
    try {
        exit_code = run_bench(work, rounds, fs::read_symlink("/proc/self/exe").string());
    } catch (const std::exception& error) {
        std::fprintf(stderr, "build_bench: %s\n", error.what());
        exit_code = 1;
    }
    Leftovers left;
    left.add_new(before, host_state(work));
    left.add("mount", mounts_below(work.path()));
    if (!left.report()) exit_code = 1;
    return exit_code;
}
