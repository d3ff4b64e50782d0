package xoev

/*
#cgo pkg-config: libxml-2.0
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlschemas.h>

extern char *amtsboteResolve(char *url);

// The only way libxml2 reaches outside a document: every schemaLocation and external entity
// comes here. Go resolves it through the configured catalogs to a local file, or refuses.
static xmlParserInputPtr amtsbote_loader(const char *url, const char *id, xmlParserCtxtPtr ctxt) {
	if (url == NULL) return NULL;
	char *local = amtsboteResolve((char *)url);
	if (local == NULL) return NULL;
	xmlParserInputPtr in = xmlNewInputFromFile(ctxt, local);
	free(local);
	return in;
}

// libxml2 prints errors to stderr by default, including lines of the document: personal data
// must not reach the logs that way. Errors are collected per call instead.
static void amtsbote_silent(void *ctx, const char *msg, ...) {}

static void amtsbote_init(void) {
	xmlInitParser();
	xmlThrDefSetGenericErrorFunc(NULL, amtsbote_silent);
	xmlSetGenericErrorFunc(NULL, amtsbote_silent);
	xmlSetExternalEntityLoader(amtsbote_loader);
}

typedef struct {
	int line;
	int column;
	int level;
	char *message;
	char *path;
} amtsbote_problem;

typedef struct {
	amtsbote_problem *items;
	int len;
	int cap;
} amtsbote_problems;

static void amtsbote_collect(void *data, xmlErrorPtr err) {
	amtsbote_problems *ps = (amtsbote_problems *)data;
	if (err == NULL || err->level == XML_ERR_WARNING) return;
	if (ps->len == ps->cap) {
		int cap = ps->cap == 0 ? 16 : ps->cap * 2;
		amtsbote_problem *items = realloc(ps->items, cap * sizeof(amtsbote_problem));
		if (items == NULL) return;
		ps->items = items;
		ps->cap = cap;
	}
	amtsbote_problem *p = &ps->items[ps->len++];
	p->line = err->line;
	p->column = err->int2;
	p->level = err->level;
	p->message = err->message ? strdup(err->message) : NULL;
	p->path = NULL;
	if (err->node != NULL && ((xmlNodePtr)err->node)->type == XML_ELEMENT_NODE) {
		xmlNodePtr node = (xmlNodePtr)err->node;
		xmlChar *path = xmlGetNodePath(node);
		if (path != NULL) {
			p->path = strdup((char *)path);
			xmlFree(path);
		}
		if (p->line <= 0) p->line = (int)xmlGetLineNo(node);
	}
	if (err->file != NULL && p->path == NULL) {
		// schema compile errors: keep the file in the path slot
		p->path = strdup(err->file);
	}
}

static amtsbote_problems *amtsbote_new_problems(void) {
	return calloc(1, sizeof(amtsbote_problems));
}

static void amtsbote_free_problems(amtsbote_problems *ps) {
	for (int i = 0; i < ps->len; i++) {
		free(ps->items[i].message);
		free(ps->items[i].path);
	}
	free(ps->items);
	free(ps);
}

static amtsbote_problem *amtsbote_problem_at(amtsbote_problems *ps, int i) { return &ps->items[i]; }

static xmlSchemaPtr amtsbote_compile(const char *path, amtsbote_problems *ps) {
	xmlSchemaParserCtxtPtr pctx = xmlSchemaNewParserCtxt(path);
	if (pctx == NULL) return NULL;
	xmlSchemaSetParserStructuredErrors(pctx, amtsbote_collect, ps);
	xmlSchemaPtr schema = xmlSchemaParse(pctx);
	xmlSchemaFreeParserCtxt(pctx);
	return schema;
}

// Returns 0 when valid, > 0 when invalid, < 0 on an internal error.
static int amtsbote_validate(xmlSchemaPtr schema, uintptr_t docp, amtsbote_problems *ps) {
	xmlDocPtr doc = (xmlDocPtr)docp;
	xmlSchemaValidCtxtPtr vctx = xmlSchemaNewValidCtxt(schema);
	if (vctx == NULL) return -1;
	xmlSchemaSetValidStructuredErrors(vctx, amtsbote_collect, ps);
	int rc = xmlSchemaValidateDoc(vctx, doc);
	xmlSchemaFreeValidCtxt(vctx);
	return rc;
}

// Parses a document from memory. On failure the problem list gets libxml2's first fatal error
// with its line and column.
static uintptr_t amtsbote_parse(const char *buf, int len, int opts, amtsbote_problems *ps) {
	xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
	if (ctxt == NULL) return 0;
	xmlDocPtr doc = xmlCtxtReadMemory(ctxt, buf, len, NULL, NULL, opts);
	if (doc == NULL || !ctxt->wellFormed) {
		xmlErrorPtr err = xmlCtxtGetLastError(ctxt);
		if (err != NULL) amtsbote_collect(ps, err);
		if (doc != NULL) xmlFreeDoc(doc);
		doc = NULL;
	}
	xmlFreeParserCtxt(ctxt);
	return (uintptr_t)doc;
}

// Parses, validates and frees in one call: the hot path crosses from Go to C once.
// Returns 0 valid, 1 invalid, 2 not well-formed, 3 has a DTD, < 0 internal error.
static int amtsbote_check(xmlSchemaPtr schema, const char *buf, int len, int opts, amtsbote_problems *ps) {
	xmlDocPtr doc = (xmlDocPtr)amtsbote_parse(buf, len, opts, ps);
	if (doc == NULL) return 2;
	if (doc->intSubset != NULL || doc->extSubset != NULL) {
		xmlFreeDoc(doc);
		return 3;
	}
	int rc = amtsbote_validate(schema, (uintptr_t)doc, ps);
	xmlFreeDoc(doc);
	return rc < 0 ? rc : (rc > 0 ? 1 : 0);
}

static int amtsbote_has_dtd(uintptr_t docp) {
	xmlDocPtr doc = (xmlDocPtr)docp;
	return doc->intSubset != NULL || doc->extSubset != NULL;
}
*/
import "C"

import (
	"sync"
	"unsafe"
)

var initOnce sync.Once

// initLibxml2 initialises libxml2 once, from one goroutine, before any concurrent use, and
// installs the loader that keeps it off the network.
func initLibxml2() {
	initOnce.Do(func() { C.amtsbote_init() })
}

// problemsFrom copies the collected errors into Go and frees them.
func problemsFrom(ps *C.amtsbote_problems) []Problem {
	defer C.amtsbote_free_problems(ps)
	out := make([]Problem, 0, int(ps.len))
	for i := 0; i < int(ps.len); i++ {
		p := C.amtsbote_problem_at(ps, C.int(i))
		out = append(out, Problem{
			Line:    int(p.line),
			Column:  int(p.column),
			Path:    C.GoString(p.path),
			Message: cleanMessage(C.GoString(p.message)),
		})
	}
	return out
}

// compileSchema compiles the XSD at path; on failure it returns libxml2's reasons.
func compileSchema(path string) (unsafe.Pointer, []Problem) {
	initLibxml2()
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	ps := C.amtsbote_new_problems()
	schema := C.amtsbote_compile(cpath, ps)
	problems := problemsFrom(ps)
	if schema == nil {
		if len(problems) == 0 {
			problems = []Problem{{Path: path, Message: "the schema could not be compiled"}}
		}
		return nil, problems
	}
	return unsafe.Pointer(schema), nil
}

func freeSchema(s unsafe.Pointer) {
	C.xmlSchemaFree((C.xmlSchemaPtr)(s))
}

// validateDoc validates a parsed document (an xmlDocPtr) against a compiled schema. One
// compiled schema may be used by many goroutines at once: each call has its own context.
func validateDoc(schema unsafe.Pointer, doc uintptr) (problems []Problem, internalErr bool) {
	ps := C.amtsbote_new_problems()
	rc := C.amtsbote_validate((C.xmlSchemaPtr)(schema), C.uintptr_t(doc), ps)
	problems = problemsFrom(ps)
	return problems, rc < 0
}

func hasDTD(doc uintptr) bool {
	return C.amtsbote_has_dtd(C.uintptr_t(doc)) != 0
}

// Parser options: never substitute entities, never load a DTD, never use the network; compact
// text nodes (as xmllint does: fewer allocations); big line numbers past 65535.
const parseOptions = C.XML_PARSE_NONET | C.XML_PARSE_COMPACT | C.XML_PARSE_BIG_LINES

// parseDoc parses data into an xmlDocPtr, or returns why it is not well-formed.
func parseDoc(data []byte) (uintptr, []Problem) {
	if len(data) == 0 {
		return 0, []Problem{{Message: "the document is empty"}}
	}
	ps := C.amtsbote_new_problems()
	doc := C.amtsbote_parse((*C.char)(unsafe.Pointer(&data[0])), C.int(len(data)), parseOptions, ps)
	problems := problemsFrom(ps)
	if doc == 0 && len(problems) == 0 {
		problems = []Problem{{Message: "libxml2 could not parse the document"}}
	}
	return uintptr(doc), problems
}

// checkDoc parses, validates and frees data in one call. parsed is false when the document was
// refused before validation (the problems then say why).
func checkDoc(schema unsafe.Pointer, data []byte) (problems []Problem, parsed bool, hasDTD bool, internalErr bool) {
	if len(data) == 0 {
		return []Problem{{Message: "the document is empty"}}, false, false, false
	}
	ps := C.amtsbote_new_problems()
	rc := C.amtsbote_check((C.xmlSchemaPtr)(schema), (*C.char)(unsafe.Pointer(&data[0])), C.int(len(data)), parseOptions, ps)
	problems = problemsFrom(ps)
	switch {
	case rc == 2:
		return problems, false, false, false
	case rc == 3:
		return nil, false, true, false
	case rc < 0:
		return problems, true, false, true
	}
	return problems, true, false, false
}
