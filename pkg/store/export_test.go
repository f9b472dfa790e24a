package store

// OpenAt opens a store migrated only up to version, to test migrations.
var OpenAt = openAt
