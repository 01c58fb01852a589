//! Health, routing and refusals of anything but smart HTTP.
