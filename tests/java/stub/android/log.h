/*
 * Stub of the NDK's <android/log.h> for building gobind's JNI sources on a
 * Linux host: the log calls go to stderr, and nothing links -llog.
 */
#ifndef HEARTH_STUB_ANDROID_LOG_H
#define HEARTH_STUB_ANDROID_LOG_H

#include <stdarg.h>
#include <stdio.h>

typedef enum android_LogPriority {
  ANDROID_LOG_UNKNOWN = 0,
  ANDROID_LOG_DEFAULT,
  ANDROID_LOG_VERBOSE,
  ANDROID_LOG_DEBUG,
  ANDROID_LOG_INFO,
  ANDROID_LOG_WARN,
  ANDROID_LOG_ERROR,
  ANDROID_LOG_FATAL,
  ANDROID_LOG_SILENT,
} android_LogPriority;

static inline int __android_log_print(int prio, const char *tag, const char *fmt, ...) {
  static const char *names = "??VDIWEFS";
  va_list ap;
  int n;
  fprintf(stderr, "%c/%s: ", (prio >= 0 && prio <= 8) ? names[prio] : '?', tag);
  va_start(ap, fmt);
  n = vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  return n;
}

static inline int __android_log_write(int prio, const char *tag, const char *text) {
  return __android_log_print(prio, tag, "%s", text);
}

#endif
