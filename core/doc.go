// Package core is the middleware's client side: it wires accounts (and, as
// they arrive, spaces, objects, sync, files and maintenance) for one data dir.
//
// App only wires: each area's logic lives in its own subpackage (core/account,
// core/datadir, …). App holds the data dir lock for its whole life, so two
// processes never share a data dir. Core never speaks a transport: the
// command API (clientlibrary) translates to and from it.
package core
