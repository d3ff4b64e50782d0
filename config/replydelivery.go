package config

// setDeliveryDefaults fills in how replies are sent: retried as destinations' deliveries are,
// one at a time per channel.
func (r *Replies) setDeliveryDefaults() {
	r.Retry.setDefaults()
	if r.MaxInFlight == 0 {
		r.MaxInFlight = 1
	}
}

// validateDelivery checks the keys the reply channels read.
func (r *Replies) validateDelivery(c *Config, bad func(key, format string, args ...any)) {
	if r.PrintDestination != "" {
		if _, ok := c.Destination(r.PrintDestination); !ok {
			bad("replies.print_destination", "%q is not in destinations: name the destination (e.g. a filedrop of the print service) printed replies go to", r.PrintDestination)
		}
	}
	if r.MaxInFlight < 1 || r.MaxInFlight > 64 {
		bad("replies.max_in_flight", "must be between 1 and 64")
	}
	rt := r.Retry
	if rt.MaxAttempts < 1 || rt.InitialInterval <= 0 || rt.MaxInterval < rt.InitialInterval || rt.Multiplier < 1 || rt.MaxAge <= 0 {
		bad("replies.retry", "needs max_attempts >= 1, initial_interval > 0, max_interval >= initial_interval, multiplier >= 1, max_age > 0")
	}
}
