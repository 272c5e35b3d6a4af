// Package report renders what users read without a server: static HTML
// pages with embedded templates and CSS (the quality report now; the
// dashboard and the executive deck later). No CDN, no scripts from outside.
package report
