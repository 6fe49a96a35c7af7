int fwd_placeholder(void);
