// Package routes decides where a submission goes and in which form. A route matches on the
// service key (Leistungsschlüssel), the municipality (AGS or ARS, exact or by prefix), the portal
// and optionally an expression over the submission, and lists its targets: for each destination
// the mapping that builds the message and the schema set that validates it, so one submission
// can fan out to a Fachverfahren and to the E-Akte in different formats. Routes are tried by
// priority, then in file order; a submission no route matches is refused at intake.
package routes
