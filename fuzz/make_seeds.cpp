// Writes seed corpora for the fuzz targets: one small valid input of each
// format, so the fuzzers start from inputs that pass the first checks.
//   fuzz_make_seeds OUT_DIR SOURCE_DIR
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "twist/checkpoint.h"
#include "twist/config.h"
#include "twist/data.h"
#include "twist/npy.h"
#include "twist/train.h"

namespace {

void write(const std::string& path, const std::string& bytes) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: fuzz_make_seeds OUT_DIR SOURCE_DIR\n");
    return 2;
  }
  const std::string out = argv[1], src = argv[2];

  // IDX: images (rank 3), labels (rank 1), colour images (rank 4), gzipped.
  std::filesystem::create_directories(out + "/fuzz_idx");
  twist::write_idx(out + "/fuzz_idx/images", torch::arange(2 * 3 * 3, torch::kInt64).view({2, 3, 3}));
  twist::write_idx(out + "/fuzz_idx/labels", torch::tensor({1, 0, 3}, torch::kInt64));
  twist::write_idx(out + "/fuzz_idx/rgb", torch::arange(2 * 2 * 2 * 3, torch::kInt64).view({2, 2, 2, 3}));
  const std::string raw = slurp(out + "/fuzz_idx/images");
  gzFile g = gzopen((out + "/fuzz_idx/images.gz").c_str(), "wb");
  gzwrite(g, raw.data(), static_cast<unsigned>(raw.size()));
  gzclose(g);

  // Settings: the shipped recipe as a config file, and a few flags.
  write(out + "/fuzz_config/recipe", std::string(1, '\0') + slurp(src + "/configs/fashion-mnist.json"));
  twist::TrainConfig defaults;
  write(out + "/fuzz_config/all_keys", std::string(1, '\0') + twist::config_to_json(defaults));
  write(out + "/fuzz_config/flag_lr", "\x01lr=0.5");
  write(out + "/fuzz_config/flag_batch",
        "\x01"
        "batch_size=64");
  write(out + "/fuzz_config/flag_nbs", "\x01nbs=false");
  write(out + "/fuzz_config/flag_minutes",
        "\x01"
        "checkpoint_minutes=0.5");

  write(out + "/fuzz_data_spec/fmnist", "fashion-mnist@test");
  write(out + "/fuzz_data_spec/idx", "idx:/data/mnist@train");
  write(out + "/fuzz_data_spec/cifar10", "cifar10:/data/cifar-10-batches-bin@test");
  write(out + "/fuzz_data_spec/stl10", "stl10:/data/stl10_binary@train+unlabeled");

  // CIFAR: two CIFAR-10 records, two CIFAR-100 records (the first byte
  // picks the layout). STL-10: two images, and labels 1 and 10.
  auto records = [](int label_bytes, int n) {
    std::string r;
    for (int i = 0; i < n; ++i) {
      for (int l = 0; l < label_bytes; ++l) r.push_back(char(3 + i + l));
      for (int p = 0; p < 3072; ++p) r.push_back(char(p * 7 + i));
    }
    return r;
  };
  write(out + "/fuzz_cifar/cifar10", std::string(1, '\0') + records(1, 2));
  write(out + "/fuzz_cifar/cifar100", std::string(1, '\1') + records(2, 2));
  std::string stl(1, '\0');
  for (int p = 0; p < 2 * 3 * 96 * 96; ++p) stl.push_back(char(p * 13));
  write(out + "/fuzz_stl10/images", stl);
  write(out + "/fuzz_stl10/labels", std::string("\1\1\12", 3));

  // A checkpoint of the smallest model: the framed file and its archive.
  twist::TrainConfig c;
  c.width = 0.03;
  c.hidden = 2;
  c.classes = 2;
  torch::manual_seed(0);  // the same seed files on every run
  twist::TwistModel model(twist::model_options(c, 1));
  const std::string path = out + "/checkpoint.pt";
  twist::save_checkpoint(path, model, nullptr, {7, 1, twist::config_to_json(c), {{0.5}, {0.25}}});
  const std::string framed = slurp(path);
  std::filesystem::remove(path);
  write(out + "/fuzz_checkpoint/tiny.pt", framed);
  write(out + "/fuzz_checkpoint_payload/tiny.archive", twist::checkpoint_payload(framed, "seed"));
  // .npy files of each supported type; images as binary PGM and PPM (no
  // encoder needed); an index list.
  std::filesystem::create_directories(out + "/fuzz_npy");
  twist::write_npy(out + "/fuzz_npy/f32.npy", torch::arange(6, torch::kFloat32).view({2, 3}));
  twist::write_npy(out + "/fuzz_npy/u8.npy", torch::arange(4, torch::kInt64).to(torch::kUInt8));
  twist::write_npy(out + "/fuzz_npy/i64.npy", torch::arange(3, torch::kInt64));
  write(out + "/fuzz_image/grey.pgm", std::string("P5\n3 2\n255\n") + std::string("\x00\x40\x80\xc0\xff\x10", 6));
  write(out + "/fuzz_image/rgb.ppm", std::string("P6\n2 1\n255\n") + std::string("\xff\x00\x00\x00\xff\x00", 6));
  write(out + "/fuzz_index_list/list.txt", "# labelled images\n0\n17\n999\n");
  std::printf("seeds written to %s\n", out.c_str());
  return 0;
}
