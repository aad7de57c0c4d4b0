#!/usr/bin/env node
// The installed command. Node runs file I/O (reading and writing blobs, fsync, rename) on libuv's thread
// pool, 4 threads unless UV_THREADPOOL_SIZE says otherwise; a mirror to disk has a sync per blob, and four
// of them in flight stall every other file operation behind them (16 threads: to disk 1.32 -> 1.19 s,
// median of 11 pairs). The pool is created at its first use, which for an ES module is reading the module
// itself, so the size is set here, in CommonJS (read synchronously), before the CLI's modules are loaded.
process.env.UV_THREADPOOL_SIZE ??= '16';
// Blobs stream through short-lived buffers, a few of which are queued long enough to reach V8's old space.
// With the small live heap of a mirror (about 10 MB), V8 grows the old space little after each full GC: 20-30
// full GCs in a 5 s copy of 20 x 2 x 32 MiB. Growing it 4x (the top of V8's own range) leaves about 9: tool
// CPU 4.47 -> 3.90 s, wall 5.58 -> 5.18 s there (medians of 6 pairs); peak memory unchanged (2,000 tiny
// images 158 -> 160 MB, catalog loads 115-126 MB). V8 reads the factor at every GC, so it is set late, once
// the code is loaded and only in runs that last: changed at start-up, it made `--help` 20 ms slower.
setTimeout(() => require('node:v8').setFlagsFromString('--heap-growing-percent=300'), 500).unref();
void import('./main.js');
