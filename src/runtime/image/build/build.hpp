#pragma once

// `lcloud image build`: a Containerfile (Dockerfile) into an image of the store. RUN steps run in
// containers of our own runtime over an overlay of the layers so far; each step that changes
// files makes a layer from the overlay's upper directory. Steps are cached by what they depend on
// (see cache.hpp), so a rebuild with nothing changed runs nothing.

#include "runtime/image/build/build_error.hpp"
#include "runtime/image/store.hpp"

#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace lcloud::runtime::image::build {

// Receives the build's output a line at a time: "STEP 3/7: RUN make", "--> cached", what RUN
// prints.
using Progress = std::function<void(const std::string& line)>;

struct BuildOptions {
    std::filesystem::path context;
    // Empty: CONTEXT/Containerfile, else CONTEXT/Dockerfile.
    std::filesystem::path containerfile;
    std::string tag; // NAME[:TAG], required
    std::map<std::string, std::string> build_args;
    // RUN on the host's (or VM's) network; by default a network namespace with only loopback.
    bool network = false;
    bool no_cache = false;
    // Where RUN containers and step roots live; empty: under the store's tmp/.
    std::filesystem::path work_dir;
    // Layers are written with gzip (what every registry and Docker read) unless set otherwise.
    Compression compression = Compression::gzip;
};

struct StepReport {
    size_t number = 0;
    std::string instruction; // as written
    bool cached = false;
    std::string layer; // the diff_id of the layer it made or took from the cache; empty: none
};

struct BuildResult {
    std::string image_id; // the config digest
    Reference reference;
    std::string manifest_digest;
    size_t steps = 0;          // every instruction from the first FROM on, FROMs included
    size_t cache_hits = 0;     // steps taken from the cache
    size_t containers_run = 0; // RUN containers started
    size_t layers_created = 0; // layers written to the store by this build
    std::vector<StepReport> reports;
};

// Builds and tags the image. Throws BuildError ("FILE:LINE: ...") for a wrong Containerfile or
// a failing step; whatever a step had set up (containers, mounts, temporary directories) is gone
// by then. Holds the store's lock shared, so rm and prune wait for the build.
BuildResult build_image(Store& store, const BuildOptions& options, const Progress& progress);

} // namespace lcloud::runtime::image::build
