int fwc_placeholder(void);
