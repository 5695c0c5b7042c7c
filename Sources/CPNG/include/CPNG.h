// CPNG: writing RGB images with libpng's simplified API (errors come back as a message, no longjmp).
#ifndef ORRERY_CPNG_H
#define ORRERY_CPNG_H
#include <stdint.h>
/// Writes width×height RGB8 pixels (row-major) to path. Returns 0, or -1 with the reason in err.
int png_write_rgb(const char *path, const uint8_t *rgb, int width, int height, char *err, int errlen);
/// Reads a PNG's size (for tests). Returns 0 on success.
int png_read_size(const char *path, int *width, int *height);
/// Reads a PNG as RGB8 into rgb (capacity bytes). Returns 0 on success (for tests and checks).
int png_read_rgb(const char *path, uint8_t *rgb, int capacity, int *width, int *height);
#endif
