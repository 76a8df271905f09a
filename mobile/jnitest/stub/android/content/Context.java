package android.content;

// A stand-in for Android's Context, the one Android class gobind's
// go.Seq refers to, so that the generated Java compiles on a plain JDK
// (mobile/jnitest/run). Nothing calls it there.
public abstract class Context {}
