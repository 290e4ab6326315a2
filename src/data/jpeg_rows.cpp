#include "jpeg_rows.h"

#ifdef TWIST_WITH_JPEGLIB
#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstring>

#include <jpeglib.h>
#endif

namespace twist {

#ifdef TWIST_WITH_JPEGLIB
namespace {

// libjpeg reports an error by calling error_exit, which must not return:
// it jumps back to decode_rows' setjmp with the message kept.
struct RowsErrors {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void rows_error_exit(j_common_ptr cinfo) {
  auto* e = reinterpret_cast<RowsErrors*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, e->message);
  std::longjmp(e->jump, 1);
}

// A warning (level -1: corrupt data, a premature end of the file) stops
// the decode, as TJFLAG_STOPONWARNING does in the whole-image path; the
// trace messages (levels 1 and up) are ignored.
void rows_emit_message(j_common_ptr cinfo, int level) {
  if (level < 0) rows_error_exit(cinfo);
}

[[noreturn]] void rows_fail(j_decompress_ptr cinfo, const char* why) {
  auto* e = reinterpret_cast<RowsErrors*>(cinfo->err);
  std::snprintf(e->message, sizeof e->message, "%s", why);
  std::longjmp(e->jump, 1);
}

// After jpeg_start_decompress: the wanted columns, rows above skipped,
// the wanted rows read into their places in `hwc`, up to 16 at a call.
void read_rows(j_decompress_ptr cinfo, const JpegRows& want, uint8_t* hwc) {
  if (int64_t(cinfo->output_height) != want.height || int64_t(cinfo->output_width) != want.width ||
      int64_t(cinfo->output_components) != want.channels)
    rows_fail(cinfo, "its decoded size differs from its header's");
  JDIMENSION x = JDIMENSION(want.col0), w = JDIMENSION(want.col1 - want.col0);
  if (want.col0 > 0 || want.col1 < want.width) jpeg_crop_scanline(cinfo, &x, &w);  // x moves left to a block edge
  if (want.row0 > 0) jpeg_skip_scanlines(cinfo, JDIMENSION(want.row0));
  const size_t stride = size_t(want.width * want.channels);
  JSAMPROW rows[16];
  while (int64_t(cinfo->output_scanline) < want.row1) {
    const int64_t first = cinfo->output_scanline, n = std::min<int64_t>(16, want.row1 - first);
    for (int64_t k = 0; k < n; ++k) rows[k] = hwc + size_t(first + k) * stride + size_t(x) * size_t(want.channels);
    jpeg_read_scanlines(cinfo, rows, JDIMENSION(n));
  }
}

// The decode proper. An error longjmps back into this frame, so only
// trivially destructible objects live here. false: `errors.message` says why.
bool decode_rows(const std::string& bytes, const JpegRows& want, uint8_t* hwc, RowsErrors& errors) {
  jpeg_decompress_struct cinfo;
  std::memset(&cinfo, 0, sizeof cinfo);
  cinfo.err = jpeg_std_error(&errors.mgr);
  errors.mgr.error_exit = rows_error_exit;
  errors.mgr.emit_message = rows_emit_message;
  if (setjmp(errors.jump) != 0) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&cinfo, TRUE);
  // TurboJPEG's defaults in the whole-image path: accurate integer inverse
  // DCT, smooth chroma upsampling.
  cinfo.scale_num = 1;
  cinfo.scale_denom = unsigned(want.denom);
  cinfo.out_color_space = want.channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&cinfo);
  read_rows(&cinfo, want, hwc);
  if (cinfo.output_scanline < cinfo.output_height)
    jpeg_abort_decompress(&cinfo);  // the rows below are never decoded
  else
    jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return true;
}

}  // namespace

// Declared in twist/image.h, which this torch-free file does not include.
bool jpeg_rows_available() { return true; }

std::string decode_jpeg_rows(const std::string& bytes, const JpegRows& want, uint8_t* hwc) {
  if (!(want.denom == 1 || want.denom == 2 || want.denom == 4 || want.denom == 8) ||
      !(want.channels == 1 || want.channels == 3) || want.row0 < 0 || want.row0 >= want.row1 ||
      want.row1 > want.height || want.col0 < 0 || want.col0 >= want.col1 || want.col1 > want.width)
    return "the rows and columns asked for do not lie inside the image";
  RowsErrors errors;
  return decode_rows(bytes, want, hwc, errors) ? std::string() : std::string(errors.message);
}
#else
bool jpeg_rows_available() { return false; }

std::string decode_jpeg_rows(const std::string&, const JpegRows&, uint8_t*) {
  return "this twist was built without libjpeg (install libjpeg62-turbo-dev and rebuild)";
}
#endif

}  // namespace twist
