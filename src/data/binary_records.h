#pragma once
// Internal to src/data: files of fixed-size records (the binary CIFAR and
// STL-10 formats), read in chunks straight into their tensors so that the
// 2.8 GB of STL-10's unlabeled split is never held twice.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "twist/data.h"

namespace twist::detail {

bool file_exists(const std::string& path);
bool dir_exists(const std::string& path);

// The number of records in `size` bytes; throws twist::Error naming `name`
// unless `size` is a positive multiple of `record` (`layout` describes one
// record in the message, e.g. "1 label byte + 3072 pixel bytes").
int64_t record_count(uint64_t size, uint64_t record, const std::string& name, const std::string& layout);

// The size of a regular file in bytes; throws when it cannot be opened.
uint64_t file_size(const std::string& path);

// Reads the `count` records of `path` in order and hands them, a chunk of
// whole records at a time, to decode(bytes, first record, records).
void read_records(const std::string& path, int64_t count, uint64_t record,
                  const std::function<void(const uint8_t*, int64_t, int64_t)>& decode);

// One class name per line (empty lines skipped, trailing blanks and '\r'
// dropped); throws unless there are exactly `expected` names.
std::vector<std::string> read_class_names(const std::string& path, int64_t expected);

// The readers behind load_dataset and has_split, one per binary format.
// `dir` exists; `split` is one parse_data_spec accepted for the kind.
Dataset load_cifar(const std::string& kind, const std::string& dir, const std::string& split);
bool cifar_has_split(const std::string& kind, const std::string& dir, const std::string& split);
Dataset load_stl10(const std::string& dir, const std::string& split);
bool stl10_has_split(const std::string& dir, const std::string& split);

}  // namespace twist::detail
