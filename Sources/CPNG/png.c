#include "CPNG.h"
#include <png.h>
#include <string.h>
#include <stdio.h>

int png_write_rgb(const char *path, const uint8_t *rgb, int width, int height, char *err, int errlen) {
    if (width <= 0 || height <= 0) { snprintf(err, (size_t)errlen, "empty image (%dx%d)", width, height); return -1; }
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)width;
    img.height = (png_uint_32)height;
    img.format = PNG_FORMAT_RGB;
    if (!png_image_write_to_file(&img, path, 0, rgb, 0, NULL)) {
        snprintf(err, (size_t)errlen, "%s", img.message);
        return -1;
    }
    return 0;
}

int png_read_size(const char *path, int *width, int *height) {
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path)) return -1;
    *width = (int)img.width; *height = (int)img.height;
    png_image_free(&img);
    return 0;
}

int png_read_rgb(const char *path, uint8_t *rgb, int capacity, int *width, int *height) {
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path)) return -1;
    img.format = PNG_FORMAT_RGB;
    *width = (int)img.width; *height = (int)img.height;
    if ((long)PNG_IMAGE_SIZE(img) > (long)capacity) { png_image_free(&img); return -2; }
    if (!png_image_finish_read(&img, NULL, rgb, 0, NULL)) return -1;
    return 0;
}
