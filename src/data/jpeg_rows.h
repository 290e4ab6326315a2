#pragma once
// Partial JPEG decoding through libjpeg's own API (libjpeg-turbo's
// jpeg_skip_scanlines and jpeg_crop_scanline; Debian's libjpeg62-turbo-dev),
// which the TurboJPEG 2.1 API does not offer: a random crop's rows and
// columns of a JPEG, at a DCT scale, without the work of the rest.
#include <cstdint>
#include <string>

namespace twist {

// What to decode: the image at 1/denom (1, 2, 4 or 8) has `height` x
// `width` pixels of `channels` (1: a greyscale JPEG, 3: RGB), and only its
// rows [row0, row1) and columns [col0, col1) are wanted.
struct JpegRows {
  int denom = 1;
  int64_t height = 0, width = 0, channels = 0;
  int64_t row0 = 0, row1 = 0, col0 = 0, col1 = 0;
};

// Decodes the wanted rows and columns of the JPEG `bytes` into `hwc`
// (uint8 height x width x channels, row-major). Rows above row0 are
// entropy-decoded only (no inverse DCT, no colour conversion), rows from
// row1 on not at all, and columns left of col0 (moved left to the block
// boundary) or from col1 on are not transformed; their pixels in `hwc`
// keep what they held. The wanted pixels equal a whole decode's at the
// same scale except, with 4:2:x chroma, the first and last column decoded
// (libjpeg's smoothing treats them as the image's edges): a caller widens
// the columns by a pixel each side. Returns "" when it decoded, else why
// not (libjpeg's message; its warnings, e.g. corrupt data or a file cut
// short within the rows read, count as failures as TurboJPEG's
// TJFLAG_STOPONWARNING makes them). A file cut short below row1 is not
// read that far and decodes.
std::string decode_jpeg_rows(const std::string& bytes, const JpegRows& want, uint8_t* hwc);

}  // namespace twist
