// The loopback floor of WORKLOADS.md: a tiny message ping-ponged between two processes, 2,000 round trips.
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1e6+t.tv_nsec/1e3;}
int cmp(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;}
int main(){int ls=socket(AF_INET,SOCK_STREAM,0);struct sockaddr_in a={0};a.sin_family=AF_INET;a.sin_addr.s_addr=htonl(0x7f000001);a.sin_port=0;
bind(ls,(void*)&a,sizeof a);listen(ls,1);socklen_t l=sizeof a;getsockname(ls,(void*)&a,&l);
if(fork()==0){int c=socket(AF_INET,SOCK_STREAM,0);connect(c,(void*)&a,sizeof a);int one=1;setsockopt(c,IPPROTO_TCP,TCP_NODELAY,&one,4);char b[16];while(read(c,b,8)==8)write(c,b,8);exit(0);}
int s=accept(ls,0,0);int one=1;setsockopt(s,IPPROTO_TCP,TCP_NODELAY,&one,4);char b[16];double d[2000];
for(int i=0;i<2100;i++){double t=now();write(s,b,8);read(s,b,8);if(i>=100)d[i-100]=now()-t;}
qsort(d,2000,sizeof(double),cmp);printf("floor p50=%.1fus p99=%.1fus\n",d[1000],d[1980]);}
