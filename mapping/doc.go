// Package mapping turns a submission into an XÖV message. A Mapper is looked up by the name a
// route gives; the built-in mappers are Go code built with etree, and every mapper returns the
// message XML together with its id (ProzessID) and type. Mapping errors name the form field that
// caused them.
package mapping
