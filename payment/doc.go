// Package payment reads payments from the German E-Payment platforms through their public
// interface, XBezahldienste: a client for a platform's PaymentTransaction (its status, INITIAL,
// PAYED, FAILED or CANCELED, with the Kassenzeichen and the payment method), authenticated with
// HTTP Basic, an OAuth 2.0 client-credentials token or a client certificate; and the endpoint
// a platform notifies when a payment changes. The pipeline holds a submission of a route that
// requires payment until its transaction is paid (docs/payment.md); payment/simulator is a
// strict test double of a platform.
package payment
