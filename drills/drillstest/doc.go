// Package drillstest checks drill reports the way a person sees them: it renders a report's HTML in headless
// Chromium (Debian's chromium package), reads back the DOM the browser built, and finds the timeline's lanes
// in a screenshot. What it renders is kept with the test's artifacts.
package drillstest
