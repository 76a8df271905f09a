/* A stand-in for the NDK's <android/log.h> so that gobind's Android glue
 * builds as a desktop JNI library (mobile/jnitest/run): the log calls go
 * to standard error. */
#ifndef PARLEY_STUB_ANDROID_LOG_H
#define PARLEY_STUB_ANDROID_LOG_H

#include <stdarg.h>
#include <stdio.h>

enum { ANDROID_LOG_INFO = 4, ANDROID_LOG_WARN = 5, ANDROID_LOG_ERROR = 6, ANDROID_LOG_FATAL = 7 };

static inline int __android_log_print(int prio, const char *tag, const char *fmt, ...) {
	va_list ap;
	int n;
	(void)prio;
	fprintf(stderr, "%s: ", tag);
	va_start(ap, fmt);
	n = vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return n;
}

#endif
