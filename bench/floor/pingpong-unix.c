// The loopback floor of WORKLOADS.md: a tiny message ping-ponged between two processes, 2,000 round trips.
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1e6+t.tv_nsec/1e3;}
int cmp(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;}
int main(){int sv[2];socketpair(AF_UNIX,SOCK_STREAM,0,sv);
if(fork()==0){close(sv[0]);char b[16];while(read(sv[1],b,8)==8)write(sv[1],b,8);exit(0);}
char b[16];double d[2000];
for(int i=0;i<2100;i++){double t=now();write(sv[0],b,8);read(sv[0],b,8);if(i>=100)d[i-100]=now()-t;}
qsort(d,2000,sizeof(double),cmp);printf("unix floor p50=%.1fus p99=%.1fus\n",d[1000],d[1980]);}
