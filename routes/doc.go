// Package routes decides where a submission goes. A route matches on the service key
// (Leistungsschlüssel) and the municipality key (AGS, exact or by prefix) and names the mapping,
// the schema set and the destinations. Routes are read from a YAML file; the first matching route
// in file order wins, and a submission no route matches is refused at intake.
package routes
