package secret

// msgConflict is the Ready message of a derived Secret's name taken by a
// Secret the OAuthClient does not control: docs/troubleshooting.md explains it
// (test/docs reads this file).
const msgConflict = "Secret %q exists and is not controlled by this OAuthClient; delete it or choose another spec.secret.name"
