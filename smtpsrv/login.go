package smtpsrv

import "github.com/emersion/go-sasl"

// loginServer is the server side of the obsolete but widespread LOGIN SASL
// mechanism (draft-murchison-sasl-login): the server asks "Username:",
// then "Password:", and each answer comes back base64-encoded (go-smtp
// does the base64). Outlook and some phones offer nothing else, and
// go-sasl only has the client side.
type loginServer struct {
	step     int
	username string
	auth     func(username, password string) error
}

func newLoginServer(auth func(username, password string) error) sasl.Server {
	return &loginServer{auth: auth}
}

const (
	loginAskUser = iota
	loginAskPassword
	loginCheck
	loginDone
)

func (s *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch s.step {
	case loginAskUser:
		if response == nil {
			s.step = loginAskPassword
			return []byte("Username:"), false, nil
		}
		// "AUTH LOGIN <username>": the initial response is the username.
		s.username = string(response)
		s.step = loginCheck
		return []byte("Password:"), false, nil
	case loginAskPassword:
		s.username = string(response)
		s.step = loginCheck
		return []byte("Password:"), false, nil
	case loginCheck:
		s.step = loginDone
		return nil, true, s.auth(s.username, string(response))
	}
	return nil, false, sasl.ErrUnexpectedClientResponse
}
