mod errors;
mod loading;
mod schema;
