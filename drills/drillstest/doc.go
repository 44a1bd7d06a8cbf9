// Package drillstest checks drill reports the way a person sees them: it renders a report's HTML in headless
// Chromium (Debian's chromium package) and measures the timeline in the screenshot.
package drillstest
