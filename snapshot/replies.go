package snapshot

import "fmt"

// replyWarnings name the reply channels a route lists that this configuration cannot use:
// replies skip them.
func (s *Snapshot) replyWarnings() []string {
	c := s.Config
	postbox := false
	for _, p := range c.Portals {
		postbox = postbox || p.Postbox
	}
	missing := map[string]string{}
	if c.Replies.PrintDestination == "" {
		missing["print"] = "replies.print_destination is not set"
	}
	if len(c.Replies.Email) == 0 {
		missing["email"] = "replies.email is not configured"
	}
	if !c.FitConnect.Enabled {
		missing["fitconnect"] = "fitconnect is not enabled"
	}
	if !postbox {
		missing["portal"] = "no portal has postbox: true"
	}
	var out []string
	for _, r := range s.Routes.Routes {
		if r.Replies == nil {
			continue
		}
		for _, ch := range r.Replies.Channels {
			if why, ok := missing[ch]; ok {
				out = append(out, fmt.Sprintf("%s: route %q: replies.channels lists %s, but %s: replies skip it", r.Where, r.ID, ch, why))
			}
		}
	}
	return out
}
