package routes

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/amtsbote/amtsbote/replies"
	"github.com/amtsbote/amtsbote/replies/email"
	"github.com/amtsbote/amtsbote/yamlfile"
)

// ReplyPolicy is how a route's replies reach the applicant: over the first channel of Channels
// that can reach them, and the portal's postbox as well (AlsoPortal).
type ReplyPolicy struct {
	// Channels is the order of preference: fitconnect, email, portal, print. Default: all four
	// in this order.
	Channels []string `yaml:"channels"`
	// EmailTemplate is the e-mail channel's template, relative to the routes file. Default: the
	// built-in one.
	EmailTemplate string `yaml:"email_template"`
	// AlsoPortal sends the reply to the portal's postbox too, when the submission came from a
	// portal with a postbox, whichever channel was chosen. Default: true.
	AlsoPortal *bool `yaml:"also_portal"`

	// TemplateFile is EmailTemplate resolved against the routes file ("" for none).
	TemplateFile string `yaml:"-"`
}

// DefaultReplyPolicy is the policy of a route without a replies key.
func DefaultReplyPolicy() ReplyPolicy {
	return ReplyPolicy{Channels: slices.Clone(replies.Channels)}
}

// ReplyPolicy is the route's reply policy with its defaults filled in.
func (r *Route) ReplyPolicy() ReplyPolicy {
	if r == nil || r.Replies == nil {
		return DefaultReplyPolicy()
	}
	p := *r.Replies
	if len(p.Channels) == 0 {
		p.Channels = slices.Clone(replies.Channels)
	}
	return p
}

// PortalToo reports whether the portal's postbox gets the reply besides the chosen channel.
func (p ReplyPolicy) PortalToo() bool { return p.AlsoPortal == nil || *p.AlsoPortal }

// prepare checks the policy and resolves the template's path against the routes file.
func (p *ReplyPolicy) prepare(routesFile string) []error {
	var errs []error
	seen := map[string]bool{}
	for i, ch := range p.Channels {
		switch {
		case !slices.Contains(replies.Channels, ch):
			errs = append(errs, fmt.Errorf("channels[%d] %q: expected one of %s", i, ch, strings.Join(replies.Channels, ", ")))
		case seen[ch]:
			errs = append(errs, fmt.Errorf("channels[%d]: %q is listed twice", i, ch))
		}
		seen[ch] = true
	}
	if p.Channels != nil && len(p.Channels) == 0 {
		errs = append(errs, errors.New("channels is empty: list at least one channel, or leave the key out for the default"))
	}
	if p.EmailTemplate != "" {
		if len(p.Channels) > 0 && !seen[replies.ChannelEmail] {
			errs = append(errs, errors.New("email_template is set, but channels does not list email"))
		}
		p.TemplateFile = yamlfile.Beside(routesFile, p.EmailTemplate)
		if err := email.CheckTemplate(p.TemplateFile); err != nil {
			errs = append(errs, fmt.Errorf("email_template: %w", err))
		}
	}
	return errs
}
