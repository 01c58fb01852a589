mod bundle;
