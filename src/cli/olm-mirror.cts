#!/usr/bin/env node
// The installed command. Node runs file I/O (reading and writing blobs, fsync, rename) on libuv's thread
// pool, 4 threads unless UV_THREADPOOL_SIZE says otherwise; a mirror to disk has a sync per blob, and four
// of them in flight stall every other file operation behind them (16 threads: to disk 1.32 -> 1.19 s,
// median of 11 pairs). The pool is created at its first use, which for an ES module is reading the module
// itself, so the size is set here, in CommonJS (read synchronously), before the CLI's modules are loaded.
process.env.UV_THREADPOOL_SIZE ??= '16';
void import('./main.js');
